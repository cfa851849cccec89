"""Code fingerprints: a digest of what an asset function does, for its cache key.

This package turns a function object into a :class:`Fingerprint`. The digest changes when the
function's behaviour may change and stays the same otherwise. The ``parts`` say which component
changed, so ``why`` can explain a rebuild. The Python version and ``-O`` level are not included
here: the caller puts the interpreter in the key (DESIGN.md §4).

Why the main rules are what they are (RELIABILITY-NOTES.md §5 has the measurements):

* **Bytecode, not source text or ``marshal``.** ``co_code``, the constants, the names and the
  argument layout say what the code does. Everything that records *where* the code is gets left
  out: file name, first line, line and position tables, ``co_qualname``. So comments, formatting,
  moving a function and copying the project do not rebuild. The compiler also makes a few choices
  from line numbers alone (``NOP``s, 3.13's fused ``LOAD_FAST_LOAD_FAST``, 3.12's jump threading).
  Those are normalized away (see ``_code_stream``), so splitting a call or a comprehension over
  lines does not rebuild either.
* **The docstring is documentation, not behaviour.** On 3.10–3.13 it sits in constant slot 0, and
  adding one also renumbers every other constant (``return None`` goes from ``LOAD_CONST 0`` to
  ``LOAD_CONST 2``). So each constant operand is replaced by the constant's rank in first-use
  order. The docstring slot is dropped only when no instruction loads it (if ``"x"`` is both the
  docstring and a returned value, it is kept). Code that reads ``__doc__`` makes docstrings data:
  then those of everything its asset reaches count, as a part of their own (``reads``).
* **A canonical, type-tagged, length-prefixed encoding, never ``repr``/``str``/``hash``.**
  ``repr`` embeds memory addresses, set order follows ``PYTHONHASHSEED``, and ``str`` confuses
  ``1``, ``'1'`` and ``True``. Sets and dict items are sorted by their encoded bytes. Floats are
  encoded with ``float.hex``, so ``-0.0`` and ``0.0`` differ.
* **Part of a function's behaviour is outside its code object**: defaults, closure cells,
  attributes set on it, its annotations (libraries act on them), the globals its code (and
  nested code) names, and the modules it imports inside its body.

  - Project code is every module loaded from under the project directory, with or without
    ``__init__.py`` (a ``src/`` folder is a namespace package), outside site-packages.
  - Project helpers (functions and classes in project modules) are fingerprinted recursively;
    a ``functools.singledispatch`` function with every implementation in its registry.
  - A project module imported inside a function (and not with the AssetFile) is read from its
    file, never imported: its code and that of every module importing it runs (``imports``).
    So is a submodule not imported with the AssetFile that code reaches as an attribute of a
    package. Neither depends on whether something imported the module since.
  - A project module imported with the AssetFile counts by the names the code reads from it,
    plus its ``__getattr__`` if it defines one; read whole from its file when the code reads
    attributes by a computed name (``getattr``, ``vars``... : ``reads``), or holds the module
    as a value (passes it on, returns it, keeps it in a default, a container or a variable).
  - Instances of project classes (and dataclass instances) count by their class and their full
    state: ``__dict__`` (attributes set after construction too), slots, the items of a built-in
    base such as ``list``, an exception's ``args``.
  - Other code counts by qualified name plus installed distribution version (stdlib: the Python
    version the caller puts in the key).
  - Plain data counts by value. Paths under ``project_dir`` are made relative, so the key does not
    depend on where the project lives.
* **Mutually recursive helpers are hashed as a whole strongly connected component** (Tarjan). A
  helper's digest is then the same whichever asset reached it first, so memoizing helpers (many
  assets share them) cannot make keys depend on visiting order.
* **Never a silent pass.** A value that cannot be encoded faithfully (an instance of a library
  class, a project class over a C base whose state Python cannot list, a module with no version)
  is encoded by its type name only, and a warning names the asset and the global.
* **Code named inside values** (``refs``): pickle bytes name project classes and functions rather
  than containing them; the data version of such a value records those names and downstream keys
  fold in their current digests (``Fingerprinter.fingerprint_reference``): a project module not
  imported with the AssetFile by its file, whether or not something imported it since.

Known limits:

* What the code cannot name stays invisible: files read without a ``source``, environment
  variables, globals reached through frames or ``__globals__``, and modules libraries hand back.
  (``globals()[...]``, ``import_module(...)``, ``sys.modules[...]`` and a module held as a
  value, passed to a helper say, are counted conservatively: ``reads``; an import by a computed
  name, or ``__subclasses__``, counts every module the project's folders hold.) Nor state a
  project module sets in a library at import (``decimal.getcontext().prec``, ``copyreg.pickle``,
  ``pd.set_option``): no code the asset reaches names it.
* A few line-dependent compiler choices are not normalized. Example: on 3.11+, ``x, y = y, x``
  split over two lines keeps a ``SWAP``. These cause a spurious rebuild, never a missed one.
* A project module read from its file counts whole (any code edit in it reruns the assets that
  import it), and a module the function imports that is found nowhere counts as missing (it
  gives a warning; inside a project module, where optional imports are common, it does not).

The package, one responsibility per module (this file only re-exports the public API):

* ``encoding`` — the canonical byte encoding primitives, the table of every tag, and
  ``FINGERPRINT_VERSION``.
* ``bytecode`` — the static digest of a code object (``code_digest``): instruction normalization,
  constants, the docstring slot.
* ``nodes`` — the vertices of the reference graph (``NodeTable``) and encodings that wait for
  their digests.
* ``values`` — the ``ValueEncoder``: the encoding of what a function refers to (plain data,
  modules, named objects); it refers to project code through a narrow ``Refs`` protocol.
* ``objects`` — the encoders of every other object (callables, descriptors, stdlib value types,
  instances), and the table that picks one by type.
* ``classes`` — what of a class counts: its namespace but bookkeeping and the caches code
  writes onto it as it runs (``__slotnames__``), the classes registered with an ABC.
* ``refs`` — the project code pickle bytes name, and the data version that covers it.
* ``reads`` — what the names in bytecode do not show: a function's attributes, a module's
  ``__getattr__``, modules read by a computed name or held as values, annotations, docstrings
  read through ``__doc__`` (the ``ReadsEncoder`` the walk uses).
* ``imports`` — import statements read from bytecode, and project modules digested from their
  files (behind a ``ModuleFinder``: the loader's) without being imported.
* ``walk`` — the ``Fingerprinter``: the graph walk, Tarjan components, assembly of the parts and
  warnings into a ``Fingerprint``.

Layer L0: stdlib only, no disk, no clock (the disk is behind the ``modules`` finder).
"""

from __future__ import annotations

from .bytecode import code_digest
from .encoding import FINGERPRINT_VERSION
from .walk import Fingerprint, Fingerprinter

__all__ = ["FINGERPRINT_VERSION", "Fingerprint", "Fingerprinter", "code_digest"]

# The public names keep the module they had before the package was split: it is part of their
# identity (pickling, repr, and the fingerprint of code that refers to them by qualified name).
for _public in (Fingerprint, Fingerprinter, code_digest):
    _public.__module__ = __name__
del _public
