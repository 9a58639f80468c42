"""The evaluate and proxy steps: the test runs of every system and their significance (``evaluation``), the
measures (``metrics``), the test sets (``testsets``), the label-free proxy evaluation (``proxy``) and the plot
data (``plots``)."""
