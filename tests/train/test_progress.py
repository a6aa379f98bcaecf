"""The training progress bars: quiet in logs, no validation figure where it means nothing."""

from fmnist.train.progress import LOG_INTERVAL, Progress


def run(capsys, validation: bool) -> str:
    bars = Progress(epochs=2, batches=3, enabled=True, validation=validation)
    for epoch in (1, 2):
        with bars.epoch(epoch):
            for _ in range(3):
                bars.step()
            bars.show(loss="0.5000", val_acc="0.9900")
    bars.close()
    return capsys.readouterr().err


def test_a_refit_on_its_validation_data_shows_no_val_figure(capsys):
    assert "val_acc=0.9900" in run(capsys, validation=True)
    shown = run(capsys, validation=False)
    assert "val_acc" not in shown and "loss=0.5000" in shown


def test_bars_written_to_a_log_refresh_a_few_times_a_minute(capsys):
    bars = Progress(epochs=2, batches=3, enabled=True)  # pytest's stderr is not a terminal
    with bars.epoch(1):
        assert bars.bar.mininterval == bars.overall.mininterval == LOG_INTERVAL >= 20
    bars.close()
