"""genred.dsp: what the device and training share.

Front-end parameters and the log-mel front end, windowing and level normalisation,
the model bundle's metadata schema, the TFLite classifier, smoothing, and the
`Pipeline` that chains them. numpy only (scipy and librosa are the tests'
references); never TensorFlow.
"""
