"""The reference GPT, its trainer and its few-shot evaluator. Reads shards; never imports Spark."""
