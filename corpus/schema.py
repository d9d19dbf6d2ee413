"""Spark schemas: the documents table, the fate table and the extract stage's combined outcome rows."""
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

DOCUMENT_COLUMNS = ["doc_id", "dataset", "url", "warc_file", "warc_offset", "fetch_time", "text",
                    "warc_record_id", "charset"]
FATE_COLUMNS = ["doc_id", "stage", "reason", "detail", "dataset", "url", "warc_file", "warc_offset"]

EXTRACT_OUTCOME = StructType([
    StructField("doc_id", StringType()),  # blake2b of WARC-Record-ID; null for a whole-file failure
    StructField("dataset", StringType()),
    StructField("url", StringType()),
    StructField("warc_file", StringType()),
    StructField("warc_offset", LongType()),  # byte offset of the record (of its gzip member for .warc.gz)
    StructField("warc_record_id", StringType()),
    StructField("fetch_time", TimestampType()),  # WARC-Date, UTC
    StructField("charset", StringType()),  # the codec that decoded the payload
    StructField("text", StringType()),
    StructField("reason", StringType()),  # null for a document
    StructField("detail", StringType()),
])
