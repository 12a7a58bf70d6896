import { expect } from 'chai';
import { publicSourceName, redactSource, redactSourcesIn } from '../src/shared/source-name';

describe('source names: no credentials, query strings or paths where they are shown', () => {
  it('logs get URLs without credentials, query or fragment; paths stay whole', () => {
    expect(redactSource('https://user:s3cret@models.example/x/model.json?X-Amz-Signature=abc#f')).to.equal('https://models.example/x/model.json');
    expect(redactSource('/srv/models/m/model.json')).to.equal('/srv/models/m/model.json');
    expect(redactSource('seed:2014')).to.equal('seed:2014');
    expect(redactSourcesIn('model: loaded tfjs graph model https://u:p@h/a/model.json?sig=1 in 5 ms')).to.equal('model: loaded tfjs graph model https://h/a/model.json in 5 ms');
  });

  it('responses get a name only, never a path or URL', () => {
    expect(publicSourceName('/srv/models/mobilenet_v1_0.25_224/model.json')).to.equal('mobilenet_v1_0.25_224');
    expect(publicSourceName('https://user:s3cret@host/x/googlenet.onnx?sig=1')).to.equal('googlenet.onnx');
    expect(publicSourceName('C:\\\\models\\\\resnet\\\\model.json')).to.equal('resnet');
    expect(publicSourceName('seed:2014')).to.equal('seed:2014');
    expect(publicSourceName('builtin')).to.equal('builtin');
    for (const s of ['/a/b/c.onnx', 'https://h/a/b/', 'file:///etc/x/model.json']) expect(publicSourceName(s), s).to.not.match(/[\\/]|:\/\//);
  });
});
