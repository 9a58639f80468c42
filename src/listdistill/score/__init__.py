"""The score and real steps: teacher-scored training lists of the generated queries (``lists``: score, filter,
normalise, split) and of the collection's real queries (``real``). The teachers themselves are
:mod:`listdistill.teachers`."""
