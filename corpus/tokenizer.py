"""GPT-2-style byte-level BPE with HF `tokenizers`: reversible (decode(encode(text)) == text for any Unicode
text, no normaliser, no unknown token) with `<|endoftext|>` as the document separator.

A document's own text never yields the separator: `encode_special_tokens` makes a literal
"<|endoftext|>" inside a crawled page encode as ordinary bytes, so EOT ids in the shards are exactly the
document boundaries."""
import os
from collections.abc import Iterable

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from corpus.errors import UserError
from corpus.shards import EOT, dtype_for

TOKENIZER_FILE_CAP_BYTES = 256 << 20  # GPT-2's tokenizer.json is 1.4 MB; tokenizers reads a file whole


def new_tokenizer() -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)  # GPT-2's split, raw bytes
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """BPE trained on `texts`; every byte is in the initial alphabet, so any text can be encoded."""
    tokenizer = new_tokenizer()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOT], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return prepared(tokenizer)


def prepared(tokenizer: Tokenizer) -> Tokenizer:
    tokenizer.encode_special_tokens = True  # a literal "<|endoftext|>" in a document is just text
    return tokenizer


def load_tokenizer(path: str) -> Tokenizer:
    """An existing tokenizer.json; it must know EOT. Anything else is a user error in one sentence."""
    if not os.path.isfile(path) or os.path.getsize(path) > TOKENIZER_FILE_CAP_BYTES:
        raise UserError(f"--tokenizer {path} is not a file of at most {TOKENIZER_FILE_CAP_BYTES >> 20} MiB")
    try:
        tokenizer = Tokenizer.from_file(path)
    except Exception as error:  # tokenizers raises plain Exception for unreadable or foreign files
        raise UserError(f"--tokenizer {path} is not a tokenizers JSON file: {str(error)[:160]}") from None
    if tokenizer.token_to_id(EOT) is None:
        raise UserError(f"--tokenizer {path} has no {EOT} token to separate documents")
    return prepared(tokenizer)


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(dtype_for(vocab_size))


def encode_documents(tokenizer: Tokenizer, texts: list[str], eot_id: int, dtype: np.dtype) -> tuple[np.ndarray, list[int]]:
    """(one array: every document's tokens followed by EOT, the token count of each document incl. its EOT)."""
    encoded = tokenizer.encode_batch(texts, add_special_tokens=False)
    lengths = [len(e.ids) + 1 for e in encoded]
    tokens = np.empty(sum(lengths), dtype=dtype)
    position = 0
    for e, length in zip(encoded, lengths):
        tokens[position:position + length - 1] = e.ids
        tokens[position + length - 1] = eot_id
        position += length
    return tokens, lengths
