"""Where the shared public corpus is: beside the repository (../shared/corpus) in a
checkout next to the shared folder, else the workplace's /work/shared/corpus, or
$SYNACK_CORPUS.  One place, so a clone anywhere (CI clones elsewhere) finds it."""
import os
from pathlib import Path


def _find() -> Path:
    env = os.environ.get("SYNACK_CORPUS")
    candidates = [Path(env)] if env else []
    candidates += [Path(__file__).resolve().parents[2] / "shared" / "corpus", Path("/work/shared/corpus")]
    for c in candidates:
        if (c / "compare.py").is_file():
            return c
    return candidates[0]


CORPUS_DIR = _find()
