"""Shared code of the DVC continuous-training project: stages and ct.py stay thin over it."""
