/**
 * `stackscope convert IN -o OUT`: any profile stackscope reads (trace, .cpuprofile, folded, pprof),
 * written as folded stacks, pprof, speedscope JSON or a .cpuprofile, through the profile model.
 */
import fs from 'node:fs';
import path from 'node:path';
import { totalWeight, type WeightUnit } from '../model/index.js';
import { readProfile, type InputFormat } from '../formats/read.js';
import { OUTPUT_FORMATS, outputFormatFromPath, renderModel, type OutputFormat } from '../formats/write.js';
import { UserError } from '../util/errors.js';
import { checkWritable, replaceFile } from '../util/output-file.js';

export { OUTPUT_FORMATS, type OutputFormat };

export interface ConvertOptions {
  /** output format; default: from the output file's extension */
  format?: string;
  /** traces: convert this process (name or pid) only */
  process?: string;
  /** the folder relative paths are resolved against and labels are shown relative to */
  cwd?: string;
}

export interface ConvertResult {
  input: string;
  inputFormat: InputFormat;
  output: string;
  format: OutputFormat;
  /** samples, distinct stacks and frames of the profile as read */
  samples: number;
  stacks: number;
  frames: number;
  /** what the weights count, and their sum */
  unit: WeightUnit;
  totalWeight: number;
  /** what the output did not keep, one sentence each */
  lost: string[];
  /** what the input itself was missing or estimated (the reader's notes) */
  notes: string[];
  bytes: number;
}

/** The output format asked for by --format or the output's extension; UserError when neither says. */
export function resolveOutputFormat(output: string, format?: string): OutputFormat {
  if (format !== undefined) {
    if ((OUTPUT_FORMATS as readonly string[]).includes(format)) return format as OutputFormat;
    throw new UserError(`bad format "${format}": use one of ${OUTPUT_FORMATS.join(', ')}`);
  }
  const f = outputFormatFromPath(output);
  if (f) return f;
  throw new UserError(
    `cannot tell the output format from "${output}": name it .folded, .pb.gz, .speedscope.json or .cpuprofile, or give --format (${OUTPUT_FORMATS.join(', ')})`,
  );
}

export function convertProfile(input: string, output: string, opts: ConvertOptions = {}): ConvertResult {
  const cwd = opts.cwd ?? process.cwd();
  const format = resolveOutputFormat(output, opts.format);
  const out = path.resolve(cwd, output);
  checkWritable(out, 'output', output);
  const read = readProfile(path.resolve(cwd, input), opts.process !== undefined ? { process: opts.process } : {});
  const p = read.profile;
  let rendered;
  try {
    rendered = renderModel(p, format, { cwd });
  } catch (err) {
    throw new UserError(`${input}: cannot be written as ${format}: ${(err as Error).message}`);
  }
  try {
    replaceFile(out, (tmp) => fs.writeFileSync(tmp, rendered.bytes));
  } catch (err) {
    throw new UserError(
      `cannot write the output to ${output} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message.split('\n')[0]})`,
    );
  }
  return {
    input,
    inputFormat: read.format,
    output,
    format,
    samples: p.sampleStack.length,
    stacks: new Set(p.sampleStack).size,
    frames: p.frames.length,
    unit: p.unit,
    totalWeight: totalWeight(p),
    lost: rendered.lost,
    notes: [...(p.meta.notes ?? []), ...summed(read)],
    bytes: rendered.bytes.length,
  };
}

/** A trace of several processes read whole: said, since one process is usually what was meant. */
function summed(r: ReturnType<typeof readProfile>): string[] {
  if (r.processChosen || (r.processes?.length ?? 0) < 2) return [];
  return [`${r.processes!.length} processes added up (${r.processes!.map((p) => p.label).join(', ')}); choose one with --process NAME`];
}
