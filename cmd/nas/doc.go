// Command nas searches for small, fast CNNs for the device it runs on.
//
// The commands are thin: they parse flags, call the library packages and
// print. Run `nas --help` for the list.
package main
