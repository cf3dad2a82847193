"""The epoch loop around the trainer: resume, one epoch's files (loss.csv row, timing, grid,
TensorBoard), scoring and the best checkpoint, the collapse alarm, checkpoints, NaN recovery,
SIGINT / SIGTERM, progress.

Safe to kill at any moment: checkpoints are written whole before they are listed, and CSV rows
past the restored checkpoint (or torn by the kill) are dropped on resume.
"""
import dataclasses
import os
import shutil
import tempfile

import tensorflow as tf
from absl import logging

from gan_zoo.run import checkpoints, disk_space, length, progress, signals, warm_start
from gan_zoo.core import distribute, records
from gan_zoo import models
from gan_zoo.run.checkpoints import CheckpointSeries
from gan_zoo.run.epoch_figures import EpochFigures
from gan_zoo.errors import TrainingInterrupted, UserError
from gan_zoo.eval import diversity, scoring
from gan_zoo.core.faults import fault_point
from gan_zoo.run.run_dir import check_run_dir
from gan_zoo.run.run_lock import RunDirLock
from gan_zoo.run.run_files import RunFiles, load_json, save_json
from gan_zoo.training.trainer import NonFiniteStep, Trainer

COLLAPSE_WARMUP_STEPS = 1000
SANE_LOSS = 1e4  # |G or D loss| beyond this in the first SANITY_EPOCHS epochs gets a warning
SANITY_EPOCHS = 3


def train(config, source, on_epoch_end=None, strategy=None):
    """Train `config` on `source` into its run dir, resuming from the latest checkpoint there;
    returns the Trainer. `on_epoch_end(trainer, epoch)` is called after each epoch's files (epoch from 1).

    SIGINT / SIGTERM save a checkpoint at the current step, then raise TrainingInterrupted.
    A non-finite loss or weight is never kept: the run goes back to its last good checkpoint
    with lower learning rates, and stops after --max_nan_recoveries.
    One training per run dir: a second is refused while this one runs (gan_zoo.run.run_lock).
    Under a multi-worker strategy only the chief writes the run dir; the other workers resume
    from its checkpoint and, as TensorFlow's multi-worker guide has it, still save theirs
    (to a scratch dir) whenever the chief does.
    """
    strategy = strategy or distribute.strategy_for(config)
    config = length.with_length(config, source.num_examples)
    files = RunFiles(config.resolved_run_dir())
    previous = check_run_dir(files, config, source.spec)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    trainer = Trainer(config, source, strategy, warm_start=warm_start.from_earlier_stage)
    scorer = scorer_for(config, trainer.spec) if config.eval_every else None
    if scorer:  # a --select_by this data has no metric for is refused before anything is written
        scoring.selection_metric(config.select_by, scorer.metric_names)
    scratch = None
    lock = RunDirLock(files.run_dir)  # a second training on this run dir is refused here
    if not distribute.is_chief(strategy):
        scratch = tempfile.mkdtemp(prefix="gan_zoo_worker_")
        lock = RunDirLock(scratch)
    resume_from = checkpoints.newest_first(files.checkpoint_dir)
    if scratch:
        files = RunFiles(scratch)
        config = dataclasses.replace(config, progress=False)
    try:
        with signals.writing(), lock:  # from here a start-up signal waits for the set-up
            loop = EpochLoop(trainer, config, files, scorer, on_epoch_end)
            with disk_space.reported(files.run_dir, loop.what_is_intact):
                loop.start(previous, resume_from, chief=scratch is None)
                loop.run()
        return trainer
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def scorer_for(config, spec):
    """The Scorer of a run: its data set (with the run's size, crop and conditions), its noise."""
    load_kwargs = dict(data_dir=config.data_dir, download=config.download,
                       image_size=config.image_size, class_tags=config.class_tags,
                       condition_csv=config.condition_csv,
                       condition_feature=config.condition_feature,
                       center_crop=config.center_crop,
                       conditional=models.describe(config.model).takes_condition, direction=config.direction,
                       unlabelled_ok=models.describe(config.model).labels_optional)
    return scoring.Scorer(config.dataset, spec, config.noise_dim, config.noise,
                          num_samples=config.eval_samples, seed=config.seed + 3,
                          load_kwargs=load_kwargs)


class EpochLoop:
    def __init__(self, trainer, config, files, scorer, on_epoch_end):
        self.trainer, self.config, self.files = trainer, config, files
        self.scorer, self.on_epoch_end = scorer, on_epoch_end
        self.recoveries = 0
        self._warned_insane = False

    def start(self, previous, resume_from, chief):
        """Restore the newest whole checkpoint of `resume_from` (paths, newest first; or save
        step 0), record the config, and drop the CSV rows past the restored epoch."""
        trainer, config, files = self.trainer, self.config, self.files
        files.create()
        self.manager = CheckpointSeries(trainer.checkpoint, files.checkpoint_dir, keep=3)
        resume_from = checkpoints.restore_newest_whole(trainer.restore, resume_from,
                                                       files.checkpoint_dir)
        if resume_from:
            logging.info("Resumed %s at step %d", resume_from, self._step())
        save_json(files.config_json, {**(previous or {}), "config": config.to_json(),
                                      "data_spec": trainer.spec.to_json()})
        if not resume_from or not chief:  # a good state for the NaN guard to go back to
            fault_point("setup")
            self.manager.save(checkpoint_number=self._step())
        self.epoch, self.first_step = divmod(self._step(), trainer.steps_per_epoch)
        files.truncate_after(self.epoch)
        # a worker's scratch dir never held the run's history: only the chief mends it
        gone = files.mend_history(self.epoch, trainer.steps_per_epoch) if chief else {}
        for name, epochs in gone.items():
            logging.warning("%s has no row for epoch(s) %s (deleted or damaged, and not in the "
                            "TensorBoard log either): their history is gone; the epochs from "
                            "here on are written as usual.", name, ", ".join(map(str, epochs)))
        self.figures = EpochFigures(config, trainer.source)
        self.real_reference = self.figures.real_reference()
        self.peak_diversity = max(files.read_column("diversity"), default=0.0)
        self.kept = (CheckpointSeries(trainer.checkpoint, files.kept_dir, name="epoch")
                     if config.keep_every else None)
        self.best = self.scorer and BestCheckpoint(trainer.checkpoint, files, scoring.selection_metric(
            config.select_by, self.scorer.metric_names))

    def run(self):
        with signals.StopOnSignal() as stop:
            if stop.requested():  # a signal held while the run dir was set up: stop now
                self._save_and_stop(stop, already_saved=True)
            if self.epoch >= self.config.epochs:
                logging.info("%s has already trained its %d epoch(s) (step %d): nothing to do. To "
                             "train further, run the same command with a larger --epochs or --kimg.",
                             self.files.run_dir, self.epoch, self._step())
            while self.epoch < self.config.epochs:
                steps, seconds = self._train_epoch(stop)
                if steps is None:  # recovered from a non-finite step: go on from there
                    continue
                if self.first_step + steps < self.trainer.steps_per_epoch:  # a signal mid-epoch
                    self._save_and_stop(stop)
                self.first_step = 0
                saved = self._finish_epoch(self.epoch + 1, steps, seconds)
                self.epoch += 1
                if stop.requested():  # the signal came during the epoch's last steps or its files
                    self._save_and_stop(stop, saved)

    def _train_epoch(self, stop):
        """(steps, seconds) of this epoch's steps; (None, None) after a NaN recovery."""
        bar = _progress_bar(self.config, self.epoch, self.trainer.steps_per_epoch, self.first_step)

        def update(n):
            bar.update(n)
            bar.set_postfix({k: f"{v:.3f}" for k, v in self.trainer.epoch_metrics().items()
                             if k in records.LOGGED})
        self.lr = self.trainer.set_epoch(self.epoch)
        try:
            return self.trainer.train_epoch_steps(self.epoch, self.first_step,
                                                  update if bar is not None else None,
                                                  stop.requested)
        except NonFiniteStep:
            self.recoveries += 1
            self.epoch, self.first_step = _recover(self.trainer, self.manager, self.files,
                                                   self.config, self.epoch, self.recoveries)
            return None, None
        finally:
            if bar is not None:
                bar.close()

    def _finish_epoch(self, epoch, steps, seconds):
        """Everything written after `epoch`'s (1-based) steps; whether a checkpoint was saved."""
        config, files, trainer = self.config, self.files, self.trainer
        trainer.refresh_sampler_statistics()  # BatchNorm statistics of what is sampled and saved
        figure, samples = self.figures.samples(trainer.sampler)
        row = {"epoch": epoch, **trainer.epoch_metrics(),
               "diversity": diversity.relative_diversity(samples[:100], self.real_reference),
               "lr": self.lr, "steps": self._step()}
        timing = {"epoch": epoch, "seconds": seconds,
                  "images_per_sec": steps * config.batch_size / max(seconds, 1e-9)}
        files.append_losses(row)
        fault_point("after_loss_csv")
        files.append_timing(timing)
        files.write_scalars(epoch, {**row, **timing})
        files.write_samples(epoch, figure)
        if self.scorer and (epoch % config.eval_every == 0 or epoch == config.epochs):
            self._score(epoch, row["steps"])
        self._collapse_alarm(epoch, row["diversity"])
        self._sanity_warning(epoch, row)
        saved = epoch % config.save_every == 0 or epoch == config.epochs
        if saved:
            fault_point("checkpoint")
            self.manager.save(checkpoint_number=self._step())
        if self.kept and epoch % config.keep_every == 0:
            self.kept.save(checkpoint_number=epoch)
        logging.info("epoch %d/%d %s", epoch, config.epochs, " ".join(
            f"{k}={v:.4g}" for k, v in {**row, **timing}.items() if k in records.LOGGED))
        if self.on_epoch_end:
            self.on_epoch_end(trainer, epoch)
        return saved

    def _score(self, epoch, steps):
        scores = self.scorer.score(self.trainer.generate)
        measured = {k: scores[k] for k in self.scorer.metric_names}
        self.files.append_metrics({"epoch": epoch, **measured, "steps": steps})
        self.files.write_scalars(epoch, {f"eval/{k}": v for k, v in measured.items()})  # not a row's tag
        self.best.consider(epoch, steps, measured)

    def _collapse_alarm(self, epoch, value):
        """A fresh generator draws near-uniform grey, so the alarm waits until the samples were
        once diverse enough, or until COLLAPSE_WARMUP_STEPS batches have passed."""
        threshold = self.config.collapse_threshold
        self.peak_diversity = max(self.peak_diversity, value)
        armed = self.peak_diversity >= threshold or self._step() >= COLLAPSE_WARMUP_STEPS
        if armed and value < threshold:
            message = (f"Possible mode collapse at epoch {epoch}: sample diversity {value:.3f} "
                       f"of the real images' (alarm under --collapse_threshold={threshold}). Look "
                       f"at {self.files.samples_dir}; an earlier checkpoint may be the one to keep.")
            logging.warning(message)
            self.files.write_alarm(epoch, message)

    def _sanity_warning(self, epoch, row):
        """One warning in the first epochs where G's or D's loss is far past what any of the
        losses here reaches while training, or past a tenth of that with samples all alike
        (finite garbage, which the NaN guard does not catch)."""
        limit = SANE_LOSS / 10 if row["diversity"] < 0.01 else SANE_LOSS
        big = {k: row[k] for k in ("Gen_loss", "Dis_loss") if abs(row[k]) > limit}
        if epoch > SANITY_EPOCHS or not big or self._warned_insane:
            return
        self._warned_insane = True
        logging.warning("Epoch %d: %s far outside a training GAN's range (under %g), sample "
                        "diversity %.2g. The likely cause: learning rates too high (--g_lr=%g, "
                        "--d_lr=%g); the recipe's are a safe start.", epoch,
                        ", ".join(f"{k}={v:.3g}" for k, v in big.items()), limit,
                        row["diversity"], self.config.g_lr, self.config.d_lr)

    def _save_and_stop(self, stop, already_saved=False):
        step = self._step()
        path = (self.manager.latest_checkpoint if already_saved
                else self.manager.save(checkpoint_number=step))
        raise TrainingInterrupted(stop.signal_name, path, step)

    def _step(self):
        return int(self.trainer.step.numpy())

    def what_is_intact(self):
        """After a failed write (a full disk): what a resume goes on from, and how."""
        latest = getattr(self, "manager", None) and self.manager.latest_checkpoint
        if not latest:
            return "No checkpoint was written yet: free some space, then run the same command again."
        return (f"The last whole checkpoint, {os.path.basename(latest)}, and the CSV rows up to "
                "it are intact: free some space, then run the same command again to resume "
                "from there.")


class BestCheckpoint:
    """checkpoints/best/ holds the checkpoint that scored best on `metric`, best.json its
    scores. The record survives a resume, so a resumed run only replaces it with a better one."""

    def __init__(self, checkpoint, files, metric):
        self.files, self.metric = files, metric
        self.manager = CheckpointSeries(checkpoint, files.best_dir, keep=1, name="best")
        record = load_json(files.best_json) if os.path.exists(files.best_json) else {}
        self.value = record.get("value") if record.get("metric") == metric else None

    def consider(self, epoch, step, scores):
        value = scores.get(self.metric)
        if not scoring.better(self.metric, value, self.value):
            return False
        # The weights first: a kill before the record leaves a better checkpoint than it says.
        self.manager.save(checkpoint_number=epoch)
        save_json(self.files.best_json, {"metric": self.metric, "value": value, "epoch": epoch,
                                         "step": step, "scores": scores})
        self.value = value
        logging.info("New best %s=%.4g at epoch %d: saved %s", self.metric, value, epoch,
                     self.files.best_dir)
        return True


def _recover(trainer, manager, files, config, epoch, recoveries):
    """Back to the last good checkpoint with lower learning rates; (epoch, first step) to go on from."""
    bad_step = int(trainer.step.numpy())
    latest = manager.latest_checkpoint
    if recoveries > config.max_nan_recoveries:
        raise UserError(
            f"Training diverged: a non-finite loss or weight at epoch {epoch + 1} (step "
            f"{bad_step}), again after {config.max_nan_recoveries} restarts from the last good "
            f"checkpoint with learning rates x{config.nan_lr_factor} each time. Likely causes: "
            f"learning rates too high for --loss={config.loss} (lower --g_lr / --d_lr), or "
            f"non-finite input data. The last good checkpoint is {latest}.")
    multiplier = float(trainer.lr_multiplier.numpy()) * config.nan_lr_factor
    trainer.restore(latest)
    trainer.lr_multiplier.assign(multiplier)
    trainer.nonfinite_steps.assign(0)
    logging.warning("Non-finite loss or weight at epoch %d (step %d): discarding the updates "
                    "since the last good checkpoint. Restarting from %s with learning rates x%g (recovery %d of %d).",
                    epoch + 1, bad_step, latest, multiplier, recoveries, config.max_nan_recoveries)
    restored_epoch, first_step = divmod(int(trainer.step.numpy()), trainer.steps_per_epoch)
    files.truncate_after(restored_epoch)
    return restored_epoch, first_step


def _progress_bar(config, epoch, total, initial):
    if not config.progress:
        return None
    return progress.epoch_bar(total, initial, f"epoch {epoch + 1}/{config.epochs}")
