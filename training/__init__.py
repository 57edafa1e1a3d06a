"""genred.training: dataset indexing, features, Keras models, int8 export, reports.

Needs the ``train`` extra (TensorFlow); never imported on the device.
"""
