import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { imagenetLabels, readLabelsFile, resolveLabels } from '../src/models/labels';
import { suiteTempDir } from './helpers/temp-dir';

describe('labels', () => {
  const dir = suiteTempDir('labels-test-');

  it('ImageNet has 1000 classes in ILSVRC order (0 tench, 281 tabby, 967 espresso, 999 toilet tissue)', () => {
    const l = imagenetLabels();
    expect(l).to.have.length(1000);
    expect(l[0]).to.match(/^tench/);
    expect(l[281]).to.match(/^tabby/);
    expect(l[967]).to.equal('espresso');
    expect(l[999]).to.match(/^toilet tissue/);
  });

  it('a 1000-output model without labels gets ImageNet, logged', () => {
    const logs: string[] = [];
    const r = resolveLabels(1000, undefined, (m) => logs.push(m));
    expect(r.labels[967]).to.equal('espresso');
    expect(r.source).to.match(/imagenet/);
    expect(logs.join()).to.match(/using ImageNet labels/);
  });

  it('a 1001-output model gets "background" at 0 and ImageNet shifted by one', () => {
    const r = resolveLabels(1001, undefined);
    expect(r.labels).to.have.length(1001);
    expect(r.labels[0]).to.equal('background');
    expect(r.labels[968]).to.equal('espresso');
  });

  it('a 1000-label file on a 1001-output model gets background prepended; other mismatches are errors', () => {
    const given = { labels: imagenetLabels(), source: 'x.txt' };
    const r = resolveLabels(1001, given);
    expect(r.labels[0]).to.equal('background');
    expect(r.labels[1]).to.match(/^tench/);
    expect(() => resolveLabels(1000, { labels: ['a', 'b'], source: 'two.txt' })).to.throw(/two\.txt has 2 labels but the model outputs 1000 classes/);
    expect(() => resolveLabels(5, { labels: ['a', 'b', 'c', 'd', 'e', 'f'], source: 's' })).to.throw(/6 labels but the model outputs 5/);
  });

  it('other output sizes without labels get class_<i> names', () => {
    expect(resolveLabels(3, undefined).labels).to.deep.equal(['class_0', 'class_1', 'class_2']);
  });

  it('reads labels files as lines (CRLF, trailing blank lines) or a JSON array', () => {
    const lines = path.join(dir.path, 'l.txt');
    fs.writeFileSync(lines, 'cat\r\ndog \r\nbird\n\n');
    expect(readLabelsFile(lines)).to.deep.equal(['cat', 'dog', 'bird']);
    const json = path.join(dir.path, 'l.json');
    fs.writeFileSync(json, JSON.stringify(['a, with comma', 'b']));
    expect(readLabelsFile(json)).to.deep.equal(['a, with comma', 'b']);
  });

  it('refuses a blank line in the middle, bad JSON, and a missing file, saying where', () => {
    const gap = path.join(dir.path, 'gap.txt');
    fs.writeFileSync(gap, 'a\n\nb\n');
    expect(() => readLabelsFile(gap)).to.throw(/blank line at line 2/);
    const bad = path.join(dir.path, 'bad.json');
    fs.writeFileSync(bad, '["a", 3]');
    expect(() => readLabelsFile(bad)).to.throw(/JSON array of strings/);
    expect(() => readLabelsFile(path.join(dir.path, 'nope.txt'))).to.throw(/cannot read labels file .*nope\.txt/);
  });
});
