"""The top (API) cell's copy of the instances: deciding whether to write
at the top or send up, the top writer, healing, and lost builds.
"""
