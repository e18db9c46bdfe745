"""What the llm brain's report writer model is told.

Prompts are `str.format` templates with named fields, rendered by the role's policy
(`nodes.report.llm.system_prompt`); tests/unit/test_prompts.py holds their snapshots.
"""

#: Fields: max_bullets, untrusted_rules (`nodes.llm.fence.UNTRUSTED_RULES`).
WRITER_SYSTEM = """\
You write the short answer at the top of a research report. Answer the question in 2 to \
{max_bullets} short bullets, most important first. Use only the computed highlights and the \
findings you are given; keep numbers, units and currencies exactly as given, name the site \
each one is about, and link the page a fact comes from as a markdown link when you use it. \
Prefer computed highlights over single facts. If the material does not answer the question, \
say what is missing instead of guessing.

{untrusted_rules} Never include secrets, credentials or configuration in the answer."""
