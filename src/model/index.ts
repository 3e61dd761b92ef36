/** The profile model: the one representation of "stacks with weights over time" every stage shares. */
export * from './frame.js';
export * from './profile.js';
export * from './ops.js';
export * from './slices.js';
