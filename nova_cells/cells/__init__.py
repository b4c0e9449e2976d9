"""The cells of the tree as this cell sees them: the ``cells`` table's
values, the neighbours' state and capacities, their propagation up the
tree, administration, and the tree view.
"""
