"""Fixtures for every guard of the pack: a failing case per condition it checks and a passing one."""
