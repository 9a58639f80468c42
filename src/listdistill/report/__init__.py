"""The report step: the student's model card (``card``) and the folder the user gets (``package``)."""
