"""Evaluation: retrieval protocols, generation metrics, physical plausibility, part following and a retrieval index."""
