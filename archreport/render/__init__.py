"""Stage 4, rendering: templates, charts, the HTML report, the notebook output, exports, and
writing the report's files; the PDF is in render/pdf/.

It works on plain data (archreport.data); it never imports Keras or archreport.model.
"""
