/* global console */
// Start-up: nothing but one line of output.
console.log('hello');
