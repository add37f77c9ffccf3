import { describeExpectedFixtures } from '../../../../helpers/expected-fixtures.js';

describeExpectedFixtures('nemo', 'NeMo and Hydra fixtures (fixtures/nemo/generate.py): exact findings');
