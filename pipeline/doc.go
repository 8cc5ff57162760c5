// Package pipeline runs nas's jobs end to end: a search run (space,
// latency table, accuracy source, strategy, results store, resume, final
// training, baselines, report files) and a NetAdapt run (proposals, short
// and long fine-tunes, the history folder).
//
// Its collaborators come in through small interfaces (LatencySource,
// Trainer, SupernetScorer, FineTuner's task function), and the unit of
// work of a trial is a plain function of serializable inputs (Train,
// FineTune, Scorer.Score), so that a worker process can run the same
// code. Settings are validated once, by
// their Validate method; zero means the default where a default exists.
//
// It is what the nas command calls; it parses no flags and prints
// nothing: messages go to the Log and Progress callbacks of a run.
package pipeline
