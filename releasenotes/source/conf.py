# Sphinx configuration of the release notes (releasenotes/), built from
# the notes under releasenotes/notes/ by reno's Sphinx extension, as in
# OpenStack projects:
#
#   reno new SLUG                          a new note (commit it)
#   tox -e releasenotes                    releasenotes/build/html
#
# reno reads the notes from the git history, so a note appears once it is
# committed.

project = 'nova-cells Release Notes'
copyright = 'nova-cells contributors'
author = 'nova-cells contributors'

extensions = ['reno.sphinxext']

master_doc = 'index'
root_doc = 'index'
source_suffix = {'.rst': 'restructuredtext'}
exclude_patterns = ['_build']

# No version in the pages: the notes are grouped by release (git tag) by
# reno itself.
version = ''
release = ''

pygments_style = 'sphinx'
html_theme = 'alabaster'
html_static_path = []
