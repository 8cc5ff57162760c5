// Package results stores search runs and their trials in a bbolt file, each
// trial committed as it finishes, and turns them into reports: the trial
// table, the Pareto front of accuracy against latency, plots and an HTML
// page.
package results
