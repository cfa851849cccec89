"""Helpers of the demo pipeline: plain Python the AssetFile imports (assetbuild fingerprints them too)."""
