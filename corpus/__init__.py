"""GPT-3's data pipeline (Brown et al. 2020, §2.2, Appendices A and C) as Spark stages.

Pure record functions live beside the Spark wrappers that count and write them; `jobs/` only parses
arguments and calls in here.
"""
