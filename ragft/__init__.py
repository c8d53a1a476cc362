"""ragft: the companion package of the book "RAG vs Fine-Tuning, by doing both".

Each piece is built step by step in a notebook first, then imported from here by later chapters.
"""
from ragft.env import print_versions, set_seed, versions

__version__ = "0.1.0"
__all__ = ["print_versions", "set_seed", "versions", "__version__"]
