// The npm `edifact` package (node-edifact) reading an interchange, for bench/edifact.py.
//
//   node bench/_node_edifact.js FILE [REPEAT]
//
// Its Reader: the streaming parser with the package's Validator on (its own segment and element
// definitions: element and component counts, mandatory ones, formats and lengths) building an
// array of segments; each message's segments also go through its Tracker, which checks the
// segment order against the package's ORDERS segment table. The file is read once; the
// fastest of REPEAT parses (by CPU time, user + system) is printed as JSON: seconds (wall),
// cpu, segments, messages, and errors (the Tracker's complaints, reported by event).
'use strict';

const fs = require('fs');
const path = require('path');

const modules = path.join(__dirname, '.node', 'node_modules', 'edifact');
const Reader = require(path.join(modules, 'reader.js'));
const Tracker = require(path.join(modules, 'tracker.js'));
const table = require(path.join(modules, 'messages', 'ORDERS.json'));

const file = process.argv[2];
const repeat = Number(process.argv[3] || 3);
// The parser takes text; UNOC is Latin-1. Line breaks between segments are not EDIFACT: the
// engine drops them as it reads, the parser would take them as data.
const text = fs.readFileSync(file, 'latin1').replace(/[\r\n]/g, '');

function once() {
  const start = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  const segments = new Reader({ autoDetectEncoding: true }).parse(text);
  const tracker = new Tracker(table);
  let errors = 0;
  let messages = 0;
  tracker.on('error', () => { errors += 1; });
  for (const segment of segments) {
    const name = segment.name;
    if (name === 'UNH') {
      tracker.reset();
      messages += 1;
    }
    if (name !== 'UNA' && name !== 'UNB' && name !== 'UNZ') tracker.accept(name);
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const used = process.cpuUsage(cpu);
  return { seconds, cpu: (used.user + used.system) / 1e6, segments: segments.length, messages,
    errors };
}

let best = null;
for (let k = 0; k < repeat; k += 1) {
  const run = once();
  if (best === null || run.cpu < best.cpu) best = run;
}
process.stdout.write(JSON.stringify(best) + '\n');
