/** The web page: `stackscope ui` serves it over a collector's store or local profile files. */
export { startUi, DEFAULT_MAX_UPLOAD, type UiOptions, type UiServer } from './server.js';
export { StoreSource, FileSource, type ProfileSource, type Filters, type Range, type SourceInfo, type TimelineData } from './source.js';
export { MAX_NODES } from './views.js';
