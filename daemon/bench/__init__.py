"""`genred bench`: speed, memory and start-up of the runtime path, with a reference.

What is measured (docs/performance.md says it at length):

- the daemon's own path, `Pipeline(TfliteClassifier.from_path(model, num_threads), rate,
  hop)` fed the daemon's blocks (``audio.block_s``, 0.1 s) as the capture feeds it: CPU seconds of the process
  (`time.process_time`) for the audio, the share of each stage, and per window the
  cost of the `process()` call that emitted it;
- a reference built the way published notebooks do it: the whole audio resampled once
  with librosa, then at every hop `librosa.feature.melspectrogram` + `power_to_db` on
  the whole window, then the model (our int8 model, through the same interpreter:
  the ratio isolates the front-end design);
- in a fresh child process that imports only the runtime path (no TensorFlow, no
  librosa): its peak RSS over the whole run, and its start-up: from the process's
  spawn to the first decision, with one window of audio already there.

The modules (nothing is imported here: the child's start-up is part of what it measures):

run.py        `run_bench`: the whole benchmark, its figures and the targets
inputs.py     the audio: synthetic music-like stereo, or a file, in the daemon's blocks
measure.py    the runtime path, stage by stage and window by window
reference.py  the librosa reference
child.py      the fresh process (``python -m genred.daemon.bench --child ...``)
machine.py    CPU pinning, and the machine the figures come from
report.py     `format_bench` (the table) and `write_json`
"""

