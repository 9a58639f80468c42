"""The report step: the student's model card (``card``)."""
