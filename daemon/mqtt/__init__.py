"""MQTT: the daemon's publisher and `genred listen`.

Topics, under ``<topic_prefix>/<device_id>/``:

=============  ========  =====================================================
availability   retained  ``online`` / ``offline`` (``offline`` is the last will)
state          retained  JSON: genre, confidence, status, since, probabilities, music_probability, model
event          QoS 1     JSON on each genre change; queued while the broker is away
probabilities  QoS 0     JSON every window (optional); dropped while disconnected
status         retained  JSON diagnostics
stats          retained  JSON listening mix
=============  ========  =====================================================

plus Home Assistant MQTT discovery under ``<discovery_prefix>/sensor/<node_id>/``.

The modules (nothing is imported here, so that ``--no-mqtt`` loads no paho):

* `payloads`: every message as a frozen dataclass with ``to_json``/``from_json`` (`wire`:
  the JSON and its checked reading), built by the service, sent by the publisher, read
  by `listen`;
* `api`: `Publisher`, what the service calls, and `NullPublisher` for ``--no-mqtt``;
* `publisher`: `MqttPublisher`; `event_queue`: its events until acknowledged; `link`:
  its connection, kept up by a thread;
* `topics`: a device's topic names; `discovery`: Home Assistant's configs, a pure function;
* `client`: the paho client's set-up and what its failures mean; `listen`: `genred listen`.

A new topic: its message class in `payloads` (its ``TOPIC`` and ``DELIVERY``, listed in
``MESSAGES``) with its bytes in tests/test_payloads.py; the publisher sends any such class
through ``publish(message)``, and the service builds it.
"""
