"""The inferstack CrossGuard policy pack.

`guards.py` holds every policy object; `__main__.py` registers them as the pack that
`pulumi preview --policy-pack policies` runs, and the offline toolkit applies the very same
objects to a planned graph. The pack judges resources by type and properties, whoever made
them: it never imports the program.
"""
