"""Stage 2, the model: the only code that imports Keras, TensorFlow or JAX.

It builds a model (build.py), traces one forward pass (trace.py), turns it into
layer rows and totals (analyse.py, flops.py), and runs a whole task in a worker
(job.py). Every use of Keras internals is in keras_compat.py. What leaves this
package is plain data (archreport.data).
"""
