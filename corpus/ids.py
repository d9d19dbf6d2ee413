"""Stable identifiers. Never Python's hash(): it is salted per process, so executors would disagree."""
import hashlib


def stable_hash(text: str, digest_bytes: int = 8) -> str:
    """Hex digest of a keyed-free blake2b; identical on every machine and Python version."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=digest_bytes).hexdigest()


def stable_int(text: str) -> int:
    """A 64-bit unsigned integer from `text`, for seeding per-document random draws."""
    return int(stable_hash(text, 8), 16)


def doc_id_for_record(warc_record_id: str) -> str:
    """doc_id of the document extracted from a WARC record, e.g. '<urn:uuid:...>' -> 16 hex chars."""
    return stable_hash(warc_record_id.strip())


def doc_id_for_location(warc_file: str, offset: int) -> str:
    """doc_id for a record that carries no WARC-Record-ID (malformed, but seen in the wild)."""
    return stable_hash(f"{warc_file}@{offset}")
