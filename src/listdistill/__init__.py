"""listdistill: teach a dense retriever one domain with synthetic queries and listwise distillation."""

__version__ = "0.1.0"
