// Package boulder is the end-to-end suite of the built acmectl against the
// real Boulder, Let's Encrypt's CA software, run locally without Docker by
// scripts/boulder (make test-boulder). The tests skip unless
// ACMECTL_BOULDER_DIRECTORY is set, which the make target does once Boulder
// is up.
package boulder
