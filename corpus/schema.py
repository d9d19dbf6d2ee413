"""The documents table and the fate table: column order and types, in Arrow (as tasks write them)
and in Spark (as later stages read them)."""
import pyarrow as pa

DOCUMENT_ARROW = pa.schema([
    ("doc_id", pa.string()),  # blake2b of WARC-Record-ID (corpus.ids)
    ("dataset", pa.string()),
    ("url", pa.string()),
    ("warc_file", pa.string()),
    ("warc_offset", pa.int64()),  # byte offset of the record (of its gzip member for .warc.gz)
    ("fetch_time", pa.timestamp("us", tz="UTC")),  # WARC-Date
    ("text", pa.string()),
    ("warc_record_id", pa.string()),
    ("charset", pa.string()),  # the codec that decoded the payload
])
FATE_ARROW = pa.schema([
    ("doc_id", pa.string()),  # null for a whole-file failure
    ("stage", pa.string()),
    ("reason", pa.string()),
    ("detail", pa.string()),
    ("dataset", pa.string()),
    ("url", pa.string()),
    ("warc_file", pa.string()),
    ("warc_offset", pa.int64()),
])
DOCUMENT_COLUMNS = DOCUMENT_ARROW.names
FATE_COLUMNS = FATE_ARROW.names
