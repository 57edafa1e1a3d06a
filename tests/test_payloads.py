"""The MQTT payload dataclasses against the bytes genred put on the wire before they
existed (captured from the daemon at a49bec3: a scripted run of rock, silence, a capture
outage, jazz and classical with a fixed clock, and its status and stats), and their
reading back: `listen` and every reader see exactly what the service built."""

from __future__ import annotations

import json

import pytest

from genred.daemon.mqtt.listen import format_message
from genred.daemon.mqtt.payloads import (
    MESSAGES,
    Delivery,
    EventPayload,
    InferenceMs,
    MixShare,
    MqttCounters,
    PayloadError,
    ProbabilitiesPayload,
    StatePayload,
    StatsPayload,
    StatusPayload,
)

LABELS = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
ZEROS = ('{"blues":0.0,"classical":0.0,"country":0.0,"disco":0.0,"hiphop":0.0,"jazz":0.0,"metal":0.0,'
         '"pop":0.0,"reggae":0.0,"rock":0.0}')
ROCK_PROBS = ('{"blues":0.0031,"classical":0.0018,"country":0.0026,"disco":0.0043,"hiphop":0.0011,"jazz":0.0031,'
              '"metal":0.0008,"pop":0.0159,"reggae":0.0159,"rock":0.9515}')
ROCK = dict(zip(LABELS, (0.0031, 0.0018, 0.0026, 0.0043, 0.0011, 0.0031, 0.0008, 0.0159, 0.0159, 0.9515), strict=True))

STATE_MUSIC = ('{"genre":"rock","confidence":0.9515,"status":"music","since":"2025-03-01T12:00:03+00:00",'
               f'"probabilities":{ROCK_PROBS},"music_probability":0.9994,"model":"genred-gtzan-cnn"}}')
STATE_SILENCE = ('{"genre":null,"confidence":0.0,"status":"silence","since":"2025-03-01T12:00:16+00:00",'
                 f'"probabilities":{ZEROS},"music_probability":null,"model":"genred-gtzan-cnn"}}')
STATE_NO_AUDIO = ('{"genre":null,"confidence":0.0,"status":"no_audio","since":"2025-03-01T12:00:20+00:00",'
                  f'"probabilities":{ZEROS},"music_probability":null,"model":"genred-gtzan-cnn"}}')
STATE_NO_MUSIC = ('{"genre":null,"confidence":0.9731,"status":"no_music","since":"2025-03-01T12:00:09+01:00",'
                  f'"probabilities":{ZEROS},"music_probability":0.0269,"model":"genred-gtzan-cnn"}}')
STATE_UNCERTAIN = ('{"genre":null,"confidence":0.3127,"status":"uncertain","since":"2025-03-01T12:00:09+01:00",'
                   '"probabilities":{"blues":0.0,"classical":0.0347,"country":0.0695,"disco":0.1042,"hiphop":0.139,'
                   '"jazz":0.1737,"metal":0.2085,"pop":0.2432,"reggae":0.278,"rock":0.3127},"music_probability":0.8,'
                   '"model":"genred-gtzan-cnn"}')
EVENT_FIRST = '{"from":null,"to":"rock","confidence":0.9515,"at":"2025-03-01T12:00:03+00:00"}'
EVENT = '{"from":"jazz","to":"classical","confidence":0.5012,"at":"2025-03-01T12:00:28+00:00"}'
EVENT_END = '{"from":"classical","to":null,"confidence":0.0,"at":"2025-03-01T12:00:36+00:00"}'
WINDOW = f'{{"probabilities":{ROCK_PROBS},"level_db":-11.7,"at":"2025-03-01T12:00:03+00:00"}}'
STATUS = ('{"version":"0.1.0","uptime_s":0.6,"model":"genred-gtzan-cnn","capture":{"device":"file:/tmp/h14m/lit.wav",'
          '"state":"stopped","sample_rate_hz":22050,"channels":1,"overruns":0,"dropped_frames":0,"reopen_count":0,'
          '"last_error":null,"seconds_since_audio":0.4277338209994923},"input_rate_hz":22050,"model_rate_hz":16000,'
          '"hop_s":0.992,"windows":3,"audio_s":5.0,"inference_ms":{"mean":0.64,"p95":0.72},"realtime_factor":140.8,'
          '"mqtt":{"connected":false,"reconnects":0,"events_queued":1,"events_dropped":0,"published":0,"last_error":null}}')
STATUS_AT_START = ('{"version":"0.1.0","uptime_s":0.0,"model":"genred-gtzan-cnn","capture":null,"input_rate_hz":null,'
                   '"model_rate_hz":16000,"hop_s":null,"windows":0,"audio_s":0.0,"inference_ms":null,'
                   '"realtime_factor":null,"mqtt":null}')
ONLY_ROCK = ('{"blues":0.0,"classical":0.0,"country":0.0,"disco":0.0,"hiphop":0.0,"jazz":0.0,"metal":0.0,"pop":0.0,'
             '"reggae":0.0,"rock":1.0}')
STATS = (f'{{"today":{{"music_s":12.9,"share":{ONLY_ROCK}}},"last_7_days":{{"music_s":12.9,"share":{ONLY_ROCK}}},'
         '"date":"2025-03-01"}')
STATS_EMPTY = (f'{{"today":{{"music_s":0,"share":{ZEROS}}},"last_7_days":{{"music_s":0,"share":{ZEROS}}},'
               '"date":"2025-03-01"}')

ALL = [(StatePayload, STATE_MUSIC), (StatePayload, STATE_SILENCE), (StatePayload, STATE_NO_AUDIO),
       (StatePayload, STATE_NO_MUSIC), (StatePayload, STATE_UNCERTAIN), (EventPayload, EVENT_FIRST),
       (EventPayload, EVENT), (EventPayload, EVENT_END), (ProbabilitiesPayload, WINDOW), (StatusPayload, STATUS),
       (StatusPayload, STATUS_AT_START), (StatsPayload, STATS), (StatsPayload, STATS_EMPTY)]


def test_built_by_the_service_they_are_the_bytes_of_before():
    zeros = dict.fromkeys(LABELS, 0.0)
    assert StatePayload(genre="rock", confidence=0.9515, status="music", since="2025-03-01T12:00:03+00:00",
                        probabilities=ROCK, music_probability=0.9994, model="genred-gtzan-cnn").to_json() == STATE_MUSIC
    assert StatePayload(genre=None, confidence=0.0, status="no_audio", since="2025-03-01T12:00:20+00:00",
                        probabilities=zeros, music_probability=None, model="genred-gtzan-cnn").to_json() == STATE_NO_AUDIO
    assert EventPayload(from_genre=None, to_genre="rock", confidence=0.9515,
                        at="2025-03-01T12:00:03+00:00").to_json() == EVENT_FIRST
    assert ProbabilitiesPayload(probabilities=ROCK, level_db=-11.7, at="2025-03-01T12:00:03+00:00").to_json() == WINDOW
    capture = {"device": "file:/tmp/h14m/lit.wav", "state": "stopped", "sample_rate_hz": 22050, "channels": 1,
               "overruns": 0, "dropped_frames": 0, "reopen_count": 0, "last_error": None,
               "seconds_since_audio": 0.4277338209994923}
    status = StatusPayload(
        version="0.1.0", uptime_s=0.6, model="genred-gtzan-cnn", capture=capture, input_rate_hz=22050,
        model_rate_hz=16000, hop_s=0.992, windows=3, audio_s=5.0, inference_ms=InferenceMs(mean=0.64, p95=0.72),
        realtime_factor=140.8, mqtt=MqttCounters(connected=False, reconnects=0, events_queued=1, events_dropped=0,
                                                 published=0, last_error=None))
    assert status.to_json() == STATUS
    assert StatusPayload(version="0.1.0", uptime_s=0.0, model="genred-gtzan-cnn", capture=None, input_rate_hz=None,
                         model_rate_hz=16000, hop_s=None, windows=0, audio_s=0.0, inference_ms=None,
                         realtime_factor=None, mqtt=None).to_json() == STATUS_AT_START
    rock = dict(zeros, rock=1.0)
    assert StatsPayload(today=MixShare(12.9, rock), recent=MixShare(12.9, rock), days=7,
                        date="2025-03-01").to_json() == STATS
    # round() of an empty sum is the int 0, and that is what went out
    assert StatsPayload(today=MixShare(0, zeros), recent=MixShare(0, zeros), days=7,
                        date="2025-03-01").to_json() == STATS_EMPTY


@pytest.mark.parametrize("cls, text", ALL, ids=[f"{c.__name__}-{i}" for i, (c, _) in enumerate(ALL)])
def test_read_back_they_round_trip_byte_for_byte(cls, text):
    message = cls.from_json(text)
    assert message.to_json() == text
    assert cls.from_json(message.to_json()) == message
    assert cls.from_json(text.encode()) == message  # paho hands listeners bytes


def test_fields_on_the_wire_are_read_by_name():
    e = EventPayload.from_json(EVENT)
    assert (e.from_genre, e.to_genre, e.confidence, e.at) == ("jazz", "classical", 0.5012, "2025-03-01T12:00:28+00:00")
    s = StatsPayload.from_json(STATS)
    assert (s.days, s.today.music_s, s.recent.share["rock"], s.date) == (7, 12.9, 1.0, "2025-03-01")
    st = StatusPayload.from_json(STATUS)
    assert st.mqtt is not None and st.mqtt.events_queued == 1 and st.inference_ms == InferenceMs(0.64, 0.72)
    assert st.capture is not None and st.capture["device"] == "file:/tmp/h14m/lit.wav"
    assert StatsPayload(MixShare(1.0, {}), MixShare(2.0, {}), 30, "2025-03-01").to_json().count('"last_30_days"') == 1


def test_a_state_of_an_older_daemon_reads_with_its_defaults():
    old = json.loads(STATE_MUSIC)
    del old["music_probability"]  # before music detectors
    s = StatePayload.from_json(json.dumps(old))
    assert (s.genre, s.music_probability, s.confidence) == ("rock", None, 0.9515)


@pytest.mark.parametrize("cls, text, match", [
    (StatePayload, "not json", "not JSON"),
    (StatePayload, "[1, 2]", "expected a JSON object, got list"),
    (StatePayload, '{"genre": "rock", "status": "music"}', "confidence: missing"),
    (StatePayload, '{"genre": "rock", "confidence": "x", "status": "music"}', "confidence: expected a number"),
    (StatePayload, '{"genre": "rock", "confidence": true, "status": "music"}', "confidence: expected a number"),
    (StatePayload, '{"genre": 3, "confidence": 0.5, "status": "music"}', "genre: expected a string or null"),
    (EventPayload, '{"from": null, "to": "rock", "confidence": 0.5}', "at: missing"),
    (StatsPayload, '{"today": {"music_s": 0, "share": {}}, "date": "2025-03-01"}', "last_<N>_days"),
    (StatusPayload, STATUS.replace('"windows":3', '"windows":3.5'), "windows: expected an integer"),
    (StatusPayload, STATUS.replace('"connected":false', '"connected":0'), "connected: expected true or false"),
])
def test_what_is_not_ours_is_one_payload_error_naming_the_key(cls, text, match):
    with pytest.raises(PayloadError, match=match):
        cls.from_json(text)


@pytest.mark.parametrize("topic, payload, line", [
    ("genred/den/state", STATE_MUSIC, "den state: rock 0.95 (music)"),
    ("genred/den/state", STATE_NO_MUSIC, "den state: - 0.97 (no_music)"),
    ("genred/den/state", STATE_NO_AUDIO, "den state: - 0.00 (no_audio)"),
    ("genred/den/event", EVENT_FIRST, "den event: - -> rock (0.95)"),
    ("genred/den/event", EVENT_END, "den event: classical -> - (0.00)"),
    ("genred/den/availability", "online", "den availability: online"),
    ("genred/den/state", "[1,2]", "den state: [1,2]"),  # not ours: shown as it is
    ("genred/den/event", "not json", "den event: not json"),
])
def test_listen_reads_them_through_the_dataclasses(topic, payload, line):
    got = format_message(topic, payload.encode())
    assert got is not None and got[9:] == line  # after "HH:MM:SS "
    assert format_message("genred/den/status", STATUS.encode()) is None


def test_each_message_names_its_topic_and_delivery():
    assert {cls.TOPIC: cls.DELIVERY for cls in MESSAGES} == {
        "state": Delivery.RETAINED_IF_CONFIGURED, "status": Delivery.RETAINED, "stats": Delivery.RETAINED,
        "event": Delivery.QUEUED, "probabilities": Delivery.LIVE,
    }
    assert {cls for cls, _ in ALL} == set(MESSAGES)  # every message has its captured bytes above

