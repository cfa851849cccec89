"""A project whose assets write a path output (out/clean.txt), one file of their own
(model.pkl) and a directory of their own (eval/): what `clean --outputs` and its command test use."""
from assetbuild import asset, source

params = source("params", "params.txt")


@asset(path="out/clean.txt", io="text")
def cleaned(params):
    return params.read_text().upper()


@asset(outputs=["model.pkl"])
def train(cleaned, context):
    context.out("model.pkl").write_text("model " + cleaned)


@asset(outputs=["eval/"])
def evaluate(train, context):
    d = context.out("eval/")
    (d / "metrics.json").write_text('{"acc": 0.9}')
    (d / "plots").mkdir()
    (d / "plots" / "a.csv").write_text("1,2")
