"""Stage 3, the diagram: DOT source, the block overview, Graphviz's layout, SVG geometry, PDF tiles.

It works on plain data and DOT text; it never imports Keras or archreport.model.
"""
