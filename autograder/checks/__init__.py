"""One module per chapter, ``ch<NN_slug>.py``, each defining ``EXERCISES``.

A check module holds inputs, probes and comparisons — never reference code: the reference
is the chapter's solutions notebook, run by the grader (chapter.reference_namespace).
"""
