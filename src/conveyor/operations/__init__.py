"""What can be done to runs after they ran, for the CLI (``conveyor runs ...``, ``conveyor gc``)
and the UI's API alike: archive, restore, delete, terminate, retry, clone, and garbage
collection of the artifacts nothing kept still needs.

Each function takes explicit stores and returns plain records; the edges render them.
"""
