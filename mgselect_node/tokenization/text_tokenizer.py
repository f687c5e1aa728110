"""Small prompt tokenizer: fixed special ids, whole words from the corpus, every state bin as one token,
and a character-level fallback so any printable ASCII encodes without <unk>.

Why this shape: the policies this package ships are tiny and trained here, so the prompt vocabulary must
be small (a few hundred ids) yet never lose information on unseen instructions.

How text is split (after NFKD + accent stripping + lowercasing): runs of letters, runs of digits, and
every other character alone (each space and newline is its own token, so no information is lost).
Each piece is then matched WordPiece-style, longest vocabulary entry first: a corpus word or a number
0..255 is one token; anything else falls back to characters ("##x" continues a letter/digit run).

The special tokens have fixed ids (PAD_ID ... UNK_ID). They are vocabulary entries, NOT added tokens, so a
user instruction that contains the text "<eos>" is encoded as plain characters and can never inject a
control token; the prompt builder inserts <image>/<bos> ids directly.
"""

from __future__ import annotations

import string
from collections import Counter
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

from mgselect_node.errors import BundleError, InputError
from mgselect_node.tokenization.tokenizer_file import read_tokenizer_file

PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, IMAGE_TOKEN, UNK_TOKEN = "<pad>", "<bos>", "<eos>", "<image>", "<unk>"
SPECIAL_TOKENS = (PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, IMAGE_TOKEN, UNK_TOKEN)
PAD_ID, BOS_ID, EOS_ID, IMAGE_ID, UNK_ID = range(len(SPECIAL_TOKENS))

NUMBER_TOKENS = 256  # "0".."255": every state bin is one token
CONTINUATION_PREFIX = "##"
# Words of the default prompt format, always in the vocabulary.
BASE_WORDS = ("task", "state", "action")
DEFAULT_MAX_WORDS = 512
# Longest letter/digit run the WordPiece matcher accepts before giving <unk> (effectively unlimited).
MAX_WORD_CHARS = 1_000_000
TOKENIZER_FILE = "tokenizer.json"
SPLIT_PATTERN = r"[a-z]+|[0-9]+|[^a-z0-9]"
# After lowercasing no upper-case letter reaches the model; everything else printable must be covered.
ALPHABET = tuple(ch for ch in string.printable if ch not in string.ascii_uppercase)
CONTINUED_CHARS = string.ascii_lowercase + string.digits


def _empty_tokenizer(vocab: dict[str, int]) -> Tokenizer:
    tokenizer = Tokenizer(
        models.WordPiece(
            vocab=vocab,
            unk_token=UNK_TOKEN,
            max_input_chars_per_word=MAX_WORD_CHARS,
            continuing_subword_prefix=CONTINUATION_PREFIX,
        )
    )
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFKD(), normalizers.StripAccents(), normalizers.Lowercase()]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated")
    # Whitespace is tokenized, so decoding is plain concatenation once the "##" markers are dropped.
    tokenizer.decoder = decoders.Sequence([decoders.Replace(CONTINUATION_PREFIX, ""), decoders.Fuse()])
    return tokenizer


def build_text_tokenizer(corpus: list[str], max_words: int = DEFAULT_MAX_WORDS) -> Tokenizer:
    """Tokenizer for prompts: specials (ids 0-4), printable ASCII characters and their "##" continuations,
    numbers 0..255, then up to max_words most frequent multi-letter words of corpus (ties alphabetical),
    plus BASE_WORDS. Deterministic for a given corpus."""
    if not isinstance(corpus, list | tuple) or not all(isinstance(text, str) for text in corpus):
        raise InputError(f"corpus is {type(corpus).__name__}; expected a list of str")
    vocab: dict[str, int] = {}

    def add(token: str) -> None:
        vocab.setdefault(token, len(vocab))

    for token in SPECIAL_TOKENS:
        add(token)
    for ch in ALPHABET:
        add(ch)
    for ch in CONTINUED_CHARS:
        add(CONTINUATION_PREFIX + ch)
    for number in range(NUMBER_TOKENS):
        add(str(number))
    splitter = _empty_tokenizer(dict(vocab))
    counts: Counter[str] = Counter()
    for text in corpus:
        pieces = splitter.pre_tokenizer.pre_tokenize_str(splitter.normalizer.normalize_str(text))
        counts.update(piece for piece, _ in pieces if len(piece) > 1 and piece.isalpha())
    for word in BASE_WORDS:
        add(word)
    for word, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:max_words]:
        add(word)
    return _empty_tokenizer(vocab)


def check_fixed_ids(tokenizer: Tokenizer) -> list[str]:
    """Problems with the special-token ids (empty list when all of PAD_ID..UNK_ID are where expected)."""
    return [
        f"{token} has id {tokenizer.token_to_id(token)}, expected {index}"
        for index, token in enumerate(SPECIAL_TOKENS)
        if tokenizer.token_to_id(token) != index
    ]


def save_text_tokenizer(tokenizer: Tokenizer, directory: str | Path) -> Path:
    """Write directory/tokenizer.json (creating directory); returns the file path."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(path / TOKENIZER_FILE))
    return path / TOKENIZER_FILE


def load_text_tokenizer(directory: str | Path) -> Tokenizer:
    """Read directory/tokenizer.json; BundleError naming the file if missing, corrupt, bad special ids."""
    path = Path(directory) / TOKENIZER_FILE
    if not path.is_file():
        raise BundleError(f"{path}: missing; expected the prompt tokenizer file")
    tokenizer = read_tokenizer_file(path)
    problems = check_fixed_ids(tokenizer)
    if problems:
        raise BundleError(f"{path}: " + "; ".join(problems))
    return tokenizer
