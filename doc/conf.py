# Sphinx configuration of the nova-cells documentation (doc/).
#
#   sphinx-build -W -b html doc doc/build/html      (tox -e docs)
#
# The pages are plain reStructuredText; no extension is needed.  The
# release notes are built apart, with reno (releasenotes/, tox -e
# releasenotes), as in OpenStack projects.

project = 'nova-cells'
copyright = 'nova-cells contributors'
author = 'nova-cells contributors'

# The package's version (setup.cfg [metadata] version), without importing
# the package: the documentation builds from a checkout alone.
try:
    import configparser as _configparser
    import os as _os

    _setup_cfg = _configparser.RawConfigParser()
    _setup_cfg.read(_os.path.join(_os.path.dirname(_os.path.abspath(
        __file__)), '..', 'setup.cfg'))
    release = _setup_cfg.get('metadata', 'version')
except Exception:
    release = ''
version = release

# doc/configuration.rst is oslo-config-generator's rst output (tox -e
# genconfig): its directives are oslo.config's.
extensions = ['oslo_config.sphinxext']

master_doc = 'index'
root_doc = 'index'
source_suffix = {'.rst': 'restructuredtext'}
exclude_patterns = ['build', '_build', 'Thumbs.db', '.DS_Store']

pygments_style = 'sphinx'
html_theme = 'alabaster'
html_title = 'nova-cells %s' % release if release else 'nova-cells'
html_static_path = []


def _literal_examples(app, docname, source):
    """Show the JSON example of ``[cells] cells_config`` as a literal block.

    The option's help (nova's text: ``Example:`` then the JSON at the
    indentation of the text) is read by docutils as a definition list, a
    warning under ``-W``.  The generated reference must stay exactly what
    oslo-config-generator writes (test_config_reference), so the block is
    marked literal here, when the page is read: ``Example::`` and the JSON
    indented under it, up to its closing brace.
    """
    if docname != 'configuration':
        return
    lines = source[0].split('\n')
    out = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if (line == '  Example:' and i + 2 < len(lines)
                and lines[i + 1] == '' and lines[i + 2] == '  {'):
            out += ['  Example::', '']
            i += 2
            while i < len(lines):
                out.append('  ' + lines[i] if lines[i] else '')
                i += 1
                if lines[i - 1] == '  }':
                    break
            continue
        out.append(line)
        i += 1
    source[0] = '\n'.join(out)


def setup(app):
    app.connect('source-read', _literal_examples)
    return {'parallel_read_safe': True}
