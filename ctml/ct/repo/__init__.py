"""Git and DVC plumbing CT runs on: `vcs` (git and dvc as processes, the state commit and restore),
`warm` (dvc repro inside this process), `dvcdata` (whether a revision's data can be had), `lock` (one
ct.py at a time, and the in-flight marker recovery reads). Imports nothing else of ctml.ct."""
