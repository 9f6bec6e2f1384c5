"""BERT uncased WordPiece tokenizer (no framework needed).

Follows Hugging Face's BertTokenizer / `tokenizers` BertNormalizer + BertPreTokenizer +
WordPiece (Devlin et al. 2019, google-research/bert tokenization.py): clean text (drop NUL,
U+FFFD and control characters, map whitespace to a space), put spaces around CJK ideographs,
lowercase and strip accents (NFD, drop combining marks), split on whitespace and punctuation,
then greedy longest-match-first WordPiece with the '##' continuation prefix; a word longer than
`MAX_WORD_CHARS` or with no full match becomes [UNK]. Sequences are [CLS] tokens [SEP].
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np

from dse.errors import UserError, read_text

#: google-research/bert tokenization.py WordpieceTokenizer(max_input_chars_per_word=100).
MAX_WORD_CHARS = 100
SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")
#: CJK Unified Ideographs blocks, as listed in google-research/bert `_is_chinese_char`.
CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)  # fmt: skip


def _is_punctuation(ch: str) -> bool:
    """ASCII non-alphanumeric printable characters count as punctuation (as in BERT), as do
    Unicode P* categories."""
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _clean(text: str) -> str:
    out = []
    for ch in text:
        cp = ord(ch)
        cat = unicodedata.category(ch)
        if cp in (0, 0xFFFD) or (cat in ("Cc", "Cf") and ch not in "\t\n\r"):
            continue
        if ch in " \t\n\r" or cat == "Zs":
            out.append(" ")
        elif any(lo <= cp <= hi for lo, hi in CJK_RANGES):
            out.append(f" {ch} ")
        else:
            out.append(ch)
    return "".join(out)


def basic_tokens(text: str) -> list[str]:
    """Words and punctuation marks of `text`, lowercased, accents stripped."""
    text = unicodedata.normalize("NFD", _clean(text).lower())
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    tokens: list[str] = []
    for word in text.split():
        start = 0
        for i, ch in enumerate(word):
            if _is_punctuation(ch):
                tokens += [word[start:i], ch] if i > start else [ch]
                start = i + 1
        if start < len(word):
            tokens.append(word[start:])
    return tokens


class WordPiece:
    """The tokenizer of a `vocab.txt` (one token a line, id = line number)."""

    def __init__(self, vocab_path: str | Path):
        tokens = read_text(vocab_path, "vocabulary").splitlines()
        self.vocab = {tok: i for i, tok in enumerate(tokens)}
        missing = [t for t in SPECIALS if t not in self.vocab]
        if missing:
            raise UserError(f"{vocab_path}: vocabulary lacks the special tokens {missing}")

    def word_pieces(self, word: str) -> list[str]:
        """Greedy longest-match-first pieces of one word, or ['[UNK]']."""
        if len(word) > MAX_WORD_CHARS:
            return ["[UNK]"]
        pieces, start = [], 0
        while start < len(word):
            for end in range(len(word), start, -1):
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    pieces.append(piece)
                    start = end
                    break
            else:
                return ["[UNK]"]
        return pieces

    def tokenize(self, text: str) -> list[str]:
        """The WordPiece tokens of `text` (no special tokens)."""
        return [p for w in basic_tokens(text) for p in self.word_pieces(w)]

    def encode(self, text: str, max_length: int) -> list[int]:
        """Token ids of [CLS] text [SEP], the text truncated to `max_length` - 2 tokens."""
        if max_length < 2:
            raise UserError(f"max length must be at least 2 ([CLS] and [SEP]), got {max_length}")
        body = self.tokenize(text)[: max_length - 2]
        return [self.vocab[t] for t in ("[CLS]", *body, "[SEP]")]

    def batch(self, texts: list[str], max_length: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, mask), both (len(texts), longest) int64, padded on the right with [PAD]."""
        rows = [self.encode(t, max_length) for t in texts]
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), self.vocab["[PAD]"], dtype=np.int64)
        mask = np.zeros_like(ids)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            mask[i, : len(r)] = 1
        return ids, mask
