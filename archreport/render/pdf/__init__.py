"""The PDF report: one section per model (section.py), assembled into report.pdf (assembly.py) with
pikepdf (objects.py, fonts.py, text.py); WeasyPrint lays out the HTML (weasy.py).
"""
